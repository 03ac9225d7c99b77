using Ledger.EventStore.Projections;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// Who owns each projection, as PostgreSQL sees it: the sessions holding the projection's advisory lock (the truth, see
/// docs/projections.md), the node whose ownership session that is (it also holds that node's lock), and what the
/// checkpoint's owner_node says.
/// </summary>
internal sealed record ProjectionOwner(string Name, long Holders, string? HolderNode, string? CheckpointOwner)
{
    /// <summary>Exactly one session holds the lock, it is a known node's, and the checkpoint agrees.</summary>
    public bool IsSingleOwner(IEnumerable<string> liveNodes) =>
        Holders == 1 && HolderNode is not null && HolderNode == CheckpointOwner && liveNodes.Contains(HolderNode);

    public override string ToString() => $"{Name}: {Holders} holder(s), node {HolderNode ?? "-"}, checkpoint says {CheckpointOwner ?? "-"}";
}

internal static class Ownership
{
    public static async Task<IReadOnlyList<ProjectionOwner>> ReadAsync(NpgsqlDataSource superuser)
    {
        // Advisory locks with two int4 keys show as classid = first key, objid = second key (as an unsigned oid).
        await using var command = superuser.CreateCommand("""
            with locks as (
                select pid, classid::bigint as space, objid::bigint as key
                from pg_locks where locktype = 'advisory' and granted and objsubid = 2
            )
            select c.name,
                   (select count(*) from locks l where l.space = @projections and l.key = (hashtext(c.name)::bigint & 4294967295)),
                   (select string_agg(distinct n.node_id, ',')
                    from locks l
                    join locks nl on nl.pid = l.pid and nl.space = @nodes
                    join ledger.projection_nodes n on nl.key = (hashtext(n.node_id)::bigint & 4294967295)
                    where l.space = @projections and l.key = (hashtext(c.name)::bigint & 4294967295)),
                   c.owner_node
            from ledger.projection_checkpoints c
            order by c.name
            """);
        command.Parameters.AddWithValue("projections", (long)ProjectionDaemon.AdvisoryLockNamespace);
        command.Parameters.AddWithValue("nodes", (long)ProjectionDaemon.NodeLockNamespace);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var owners = new List<ProjectionOwner>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            owners.Add(new ProjectionOwner(reader.GetString(0), reader.GetInt64(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3)));
        }

        return owners;
    }

    /// <summary>Waits until every projection has exactly one owner among <paramref name="liveNodes"/>.</summary>
    public static async Task<IReadOnlyList<ProjectionOwner>> SettledAsync(NpgsqlDataSource superuser, IReadOnlyCollection<string> liveNodes, TimeSpan timeout)
    {
        IReadOnlyList<ProjectionOwner> owners = [];
        await Eventually.HoldsAsync(async () =>
        {
            owners = await ReadAsync(superuser);
            return owners.Count > 0 && owners.All(o => o.IsSingleOwner(liveNodes));
        }, "every projection has exactly one owner among " + string.Join(", ", liveNodes), timeout, () => string.Join("; ", owners));
        return owners;
    }
}
