"""InfPop: hyperopt TPE over GPU count, batch size and engine knobs, maximising throughput on the hardware at
hand: the space (space.py), the landscape cache (landscape.py) and the TPE search (search.py); infpop.py
runs it inside a session.

Every evaluation is a real trial through the same TrialPool and engines as the perf tests. Results are cached
in the landscape file (so repeated points and re-runs cost nothing), failures and OOMs are STATUS_FAIL with
their reason, and the best point is stored per hardware fingerprint next to the baselines:

    baselines/<fingerprint>/_infpop/<engine>-<model>-<workload>.landscape.jsonl   every evaluated point
    baselines/<fingerprint>/_infpop/<engine>-<model>-<workload>.tuned.json        the optimum and its context
"""
