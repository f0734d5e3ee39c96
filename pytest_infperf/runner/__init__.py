"""Trial runner: a pool in the test process (pool.py) drives one worker process per trial key (worker.py)."""
