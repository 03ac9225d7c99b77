using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>What <see cref="HighWaterWitness"/> found: the marks it saw, Marten's skips, and any event committed too late.</summary>
internal sealed record HighWaterVerdict(
    int MarkMoves, int Skips, long MissingInSkips, long StoredInSkips, IReadOnlyList<string> CommittedBehindTheMark)
{
    public void AddTo(RunSummary summary)
    {
        summary.Add("high-water mark moves witnessed", MarkMoves);
        summary.Add("Marten's recorded skips: rows, positions never stored, events stored inside them",
            $"{Skips}, {MissingInSkips}, {StoredInSkips}");
        summary.Add("events committed after the high-water mark had passed their position", CommittedBehindTheMark.Count);
    }
}

/// <summary>
/// Whether any event committed after Marten's high-water mark had already moved past its position: the only way an async
/// read model can miss a committed event (its shards read no further than the mark, and never go back). A row of
/// <c>mt_high_water_skips</c> records a jump of the mark over positions no row held at the time; the positions stored
/// inside such a range are mostly events committed above the hole before the jump, which the shards read as usual. What
/// tells a real loss apart is time: PostgreSQL's commit timestamp of each event against the commit timestamp of the first
/// mark at or above its position. <see cref="PrepareAsync"/> turns commit timestamps on (a server restart) before the
/// service exists; <see cref="InstallAsync"/> logs every move of the mark after the migrations made its table.
/// </summary>
internal static class HighWaterWitness
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task PrepareAsync(ReliabilityCluster cluster)
    {
        await using (var command = cluster.Superuser.CreateCommand("alter system set track_commit_timestamp = on"))
        {
            await command.ExecuteNonQueryAsync(Ct);
        }

        await cluster.CrashAsync(Ct);
        await cluster.RestartAsync(Ct);
        await using var check = cluster.Superuser.CreateCommand("show track_commit_timestamp");
        Assert.Equal("on", await check.ExecuteScalarAsync(Ct));
    }

    public static async Task InstallAsync(NpgsqlDataSource superuser)
    {
        // The mark's row may not exist yet; its first value is logged by the insert.
        await using var command = superuser.CreateCommand("""
            create schema if not exists witness;
            create table witness.marks(id bigserial primary key, mark bigint not null);
            insert into witness.marks(mark)
              select coalesce((select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'), 0);
            create function witness.log_mark() returns trigger language plpgsql security definer set search_path = witness as $$
            begin
              if new.name = 'HighWaterMark' and (tg_op = 'INSERT' or new.last_seq_id is distinct from old.last_seq_id) then
                insert into witness.marks(mark) values (new.last_seq_id);
              end if;
              return new;
            end $$;
            create trigger witness_mark after insert or update on ledger.mt_event_progression
              for each row execute function witness.log_mark();
            """);
        await command.ExecuteNonQueryAsync(Ct);
    }

    public static async Task<HighWaterVerdict> CheckAsync(NpgsqlDataSource superuser)
    {
        // Each mark with the moment it became visible; each event with its own. Events at or below the mark of the
        // installation are left out: their commits may predate the log.
        var marks = new List<(long Mark, DateTime Committed)>();
        await using (var command = superuser.CreateCommand(
            "select mark, pg_xact_commit_timestamp(xmin) from witness.marks order by pg_xact_commit_timestamp(xmin), id"))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct)) marks.Add((reader.GetInt64(0), reader.GetDateTime(1)));
        }

        var late = new List<string>();
        var floor = marks[0].Mark;
        await using (var command = superuser.CreateCommand(
            "select seq_id, pg_xact_commit_timestamp(xmin) from ledger.mt_events where seq_id > @floor order by seq_id"))
        {
            command.Parameters.AddWithValue("floor", floor);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            // A running maximum: the mark never legitimately moves back, and if it did, the first pass is what counts.
            var reached = new List<(long Mark, DateTime Committed)>();
            foreach (var m in marks)
            {
                if (reached.Count == 0 || m.Mark > reached[^1].Mark) reached.Add(m);
            }

            while (await reader.ReadAsync(Ct))
            {
                var (position, committed) = (reader.GetInt64(0), reader.GetDateTime(1));
                var passed = reached.FindIndex(m => m.Mark >= position);
                if (passed >= 0 && reached[passed].Committed < committed)
                {
                    late.Add($"position {position} committed {committed:HH:mm:ss.ffffff}, after the mark reached {reached[passed].Mark} at {reached[passed].Committed:HH:mm:ss.ffffff}");
                }
            }
        }

        await using var skips = superuser.CreateCommand("""
            select count(*),
                   coalesce(sum(ending_sequence - starting_sequence), 0)
                     - (select count(*) from ledger.mt_events e join ledger.mt_high_water_skips k
                          on e.seq_id > k.starting_sequence and e.seq_id <= k.ending_sequence),
                   (select count(*) from ledger.mt_events e join ledger.mt_high_water_skips k
                      on e.seq_id > k.starting_sequence and e.seq_id <= k.ending_sequence)
            from ledger.mt_high_water_skips
            """);
        await using var skipReader = await skips.ExecuteReaderAsync(Ct);
        await skipReader.ReadAsync(Ct);
        return new HighWaterVerdict(marks.Count - 1, (int)skipReader.GetInt64(0), skipReader.GetInt64(1), skipReader.GetInt64(2), late);
    }
}
