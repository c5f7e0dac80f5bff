"""Local stateful fakes of the vendors' HTTP APIs the built-in `http` definitions speak to.

They hold records, act on deletes and answer with the vendor's documented paths, status codes, JSON
shapes, pagination and error bodies, so that the test suite, `dsarctl demo --apis` and the benchmark
exercise the built-in definitions without accounts. Not imported by dsarctl itself: only by tests, the
demo's API mode and benchmarks. `server.FakeServer` runs any of them on 127.0.0.1 with injected latency
and faults.
"""
