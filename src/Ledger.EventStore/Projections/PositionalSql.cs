using System.Text.RegularExpressions;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Our SQL files name their parameters (<c>@serials</c>); Marten's <c>QueueSqlCommand</c> takes positional <c>?</c>
/// placeholders and a value per placeholder. This turns one into the other, so a statement is written once and runs both
/// on a plain command and queued into a Marten batch.
/// </summary>
public static partial class PositionalSql
{
    /// <summary>
    /// The one statement of <paramref name="namedSql"/> (as our SQL files hold it: comment lines and the closing semicolon
    /// are dropped, since Marten refuses any <c>;</c> in a queued command) with every <c>@name</c> replaced by <c>?</c>, and
    /// the names in the order they appear (a name used twice appears twice: Marten binds one value per placeholder).
    /// </summary>
    public static (string Sql, string[] Names) From(string namedSql)
    {
        ArgumentNullException.ThrowIfNull(namedSql);
        var statements = Schema.SqlStatements.Split(namedSql);
        if (statements.Count != 1)
            throw new ArgumentException($"Marten queues one statement at a time; this text holds {statements.Count}.", nameof(namedSql));
        var statement = statements[0];
        return (ParameterName().Replace(statement, "?"), [.. ParameterName().Matches(statement).Select(m => m.Groups[1].Value)]);
    }

    /// <summary>
    /// The command's text in positional form with its parameters' values in placeholder order, ready for
    /// <c>QueueSqlCommand(sql, values)</c>. The values array is passed whole: an element that is itself a reference-type
    /// array (<c>string[]</c>) stays one value.
    /// </summary>
    public static (string Sql, object[] Values) From(NpgsqlCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var (sql, names) = From(command.CommandText);
        var values = new object[names.Length];
        for (var i = 0; i < names.Length; i++)
        {
            if (!command.Parameters.TryGetValue(names[i], out var parameter))
                throw new InvalidOperationException($"The statement uses @{names[i]}, which the command has no parameter for.");
            values[i] = parameter.Value ?? DBNull.Value;
        }

        return (sql, values);
    }

    // Casts (::text[]) and the like never start with @; PostgreSQL has no other use of @name in our statements.
    [GeneratedRegex("@([a-z_][a-z0-9_]*)")]
    private static partial Regex ParameterName();
}
