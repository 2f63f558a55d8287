"""`make load`: Locust callers against the real gateway, with fixed-latency fakes and with the offline models,
then faults injected under load. `python -m bench.load.run --help` runs any part of it."""
