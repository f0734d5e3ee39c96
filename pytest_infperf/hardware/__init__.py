"""What hardware this is: the GPUs (gpu.py), the host around them (host.py) and the CPUs a worker is pinned to
(affinity.py)."""
