using System.Text.RegularExpressions;

namespace Ledger.EventStore.Projections;

/// <summary>One table of a projection: its live, shadow (<c>__rebuild</c>) and retired (<c>__old</c>) names, quoted for SQL.</summary>
internal sealed partial class ProjectionTable
{
    private const int MaxIdentifierLength = 63;

    private ProjectionTable(string logical, string schema, string name)
    {
        Logical = logical;
        Schema = schema;
        Name = name;
    }

    public string Logical { get; }
    public string Schema { get; }
    public string Name { get; }
    public string ShadowName => Name + "__rebuild";
    public string OldName => Name + "__old";
    public string Live => Qualified(Name);
    public string Shadow => Qualified(ShadowName);
    public string Old => Qualified(OldName);

    public static ProjectionTable Parse(string projection, string logical)
    {
        var match = TableName().Match(logical ?? string.Empty);
        if (!match.Success)
        {
            throw new ArgumentException(
                $"Projection '{projection}' declares table '{logical}': tables are lower-case and schema-qualified (ledger.factory_daily).");
        }

        var table = new ProjectionTable(logical!, match.Groups[1].Value, match.Groups[2].Value);
        if (table.ShadowName.Length > MaxIdentifierLength)
        {
            throw new ArgumentException($"Projection '{projection}': table name '{table.Name}' is too long for its rebuild copy '{table.ShadowName}'.");
        }

        return table;
    }

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private string Qualified(string name) => Quote(Schema) + "." + Quote(name);

    [GeneratedRegex(@"^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)$")]
    private static partial Regex TableName();
}
