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

        var name = new string([.. phase.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);
        await File.WriteAllTextAsync(Path.Combine(directory, $"statements-{name}.txt"), text.ToString(), cancellationToken);
    }
}
