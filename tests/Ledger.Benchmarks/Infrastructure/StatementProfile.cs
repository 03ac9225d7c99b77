using System.Globalization;
using System.Text;
using Npgsql;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>
/// With --profile: pg_stat_statements on the ledger's database, reset before each phase and written after it to
/// statements-&lt;phase&gt;.txt (the statements that took the server's time, heaviest first). Off by default: it costs the
/// server a little on every statement, and the headline figures are measured without it.
/// </summary>
internal sealed class StatementProfile(string connectionString, string directory)
{
    public static async Task<StatementProfile> EnableAsync(string connectionString, string directory, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("create extension if not exists pg_stat_statements", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return new StatementProfile(connectionString, directory);
    }

    public async Task ResetAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("select pg_stat_statements_reset()", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task WriteAsync(string phase, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            select calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3), rows,
                   shared_blks_hit + shared_blks_read, regexp_replace(query, '\s+', ' ', 'g'), round(total_plan_time::numeric, 1)
            from pg_stat_statements
            where dbid = (select oid from pg_database where datname = current_database())
            order by total_exec_time + total_plan_time desc
            limit 25
            """, connection);
        var text = new StringBuilder($"{"calls",9} {"plan ms",9} {"exec ms",10} {"mean ms",9} {"rows",10} {"blocks",10}  query\n");
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var query = reader.GetString(5);
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"{reader.GetInt64(0),9} {reader.GetDecimal(6),9} {reader.GetDecimal(1),10} {reader.GetDecimal(2),9} {reader.GetInt64(3),10} {reader.GetInt64(4),10}  {query[..Math.Min(query.Length, 300)]}");
            }
        }

        // Whether the planner had statistics for the events table: without a histogram on seq_id it estimates a third of
        // the table for Marten's `seq_id >= :start` and its gap query sorts a sequential scan of all of it (issue 15).
        await using (var statistics = new NpgsqlCommand("""
            select coalesce(t.n_live_tup, 0), coalesce(t.autoanalyze_count + t.analyze_count, 0),
                   coalesce(to_char(greatest(t.last_autoanalyze, t.last_analyze), 'HH24:MI:SS'), 'never'),
                   exists (select 1 from pg_stats s where s.schemaname = 'ledger' and s.tablename = 'mt_events'
                             and s.attname = 'seq_id' and s.histogram_bounds is not null)
            from pg_stat_user_tables t where t.schemaname = 'ledger' and t.relname = 'mt_events'
            """, connection))
        await using (var reader = await statistics.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"\nledger.mt_events at the end of the phase: {reader.GetInt64(0)} live rows, analyzed {reader.GetInt64(1)} times (last {reader.GetString(2)}), histogram on seq_id: {(reader.GetBoolean(3) ? "yes" : "no")}");
            }
        }

        var name = new string([.. phase.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);
        await File.WriteAllTextAsync(Path.Combine(directory, $"statements-{name}.txt"), text.ToString(), cancellationToken);
    }
}
