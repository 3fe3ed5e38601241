"""The *_run.py modules here are scripts the tests run in subprocesses, not test
modules: importing one (doctest collection) may reconfigure TensorFlow's CPUs after
TensorFlow started."""

collect_ignore = [
    "mirrored_run.py",
    "multi_worker_run.py",
    "ps_run.py",
    "feature_column/mirrored_run.py",
    "canned/strategy_run.py",
]
