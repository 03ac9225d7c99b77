using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels;
using Npgsql;

// One node: runs until killed (the test kills it with SIGKILL). Argument: the connection string.
await using var dataSource = EventStoreDataSource.Create(args[0], $"daemon-node-{Environment.ProcessId}");
var options = new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType };
options.AsyncProjections.Add(new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded));
options.AsyncProjections.Add(new NodeWitness());
await using var store = new EventStore(dataSource, options);
await store.StartProjectionsAsync();
Console.WriteLine($"node {Environment.ProcessId} running");
await Task.Delay(Timeout.Infinite);

/// <summary>Records, per position, the process that applied it; its primary key refuses a second application.</summary>
internal sealed class NodeWitness : IProjection
{
    public string Name => "node-witness";

    public IReadOnlyList<string> Tables { get; } = ["public.node_seen"];

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        await using var insert = batch.CreateCommand("insert into public.node_seen (position, node) select p, @node from unnest(@positions::bigint[]) p");
        insert.Parameters.Add(new NpgsqlParameter<long[]>("positions", [.. batch.Events.Select(e => e.Position)]));
        insert.Parameters.Add(new NpgsqlParameter<int>("node", Environment.ProcessId));
        await batch.ExecuteAsync(insert, cancellationToken);
    }
}
