// Each test runs service processes and a PostgreSQL cluster of its own and measures recovery and takeover times:
// run one at a time, so that the suite's own tests do not compete for the CPU they time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
