using Ledger.Testing;

[assembly: AssemblyFixture(typeof(PostgresServerFixture))]
