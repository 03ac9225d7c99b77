namespace Ledger.Api.Access;

/// <summary>What an API key may do. Stored as lower-case text (<see cref="LedgerRoles.ToText"/>).</summary>
public enum LedgerRole
{
    /// <summary>A factory's line systems: post events for units built at its one factory.</summary>
    Line = 1,

    /// <summary>Read models.</summary>
    Reporting = 2,

    /// <summary>Read models, history and audit.</summary>
    Auditor = 3,

    /// <summary>Everything, plus keys and factories.</summary>
    Admin = 4,
}

/// <summary>Text forms of <see cref="LedgerRole"/> and which role implies which.</summary>
public static class LedgerRoles
{
    /// <summary>Every role, in order.</summary>
    public static IReadOnlyList<LedgerRole> All { get; } = [LedgerRole.Line, LedgerRole.Reporting, LedgerRole.Auditor, LedgerRole.Admin];

    /// <summary>The stored and wire name: <c>line</c>, <c>reporting</c>, <c>auditor</c>, <c>admin</c>.</summary>
    public static string ToText(this LedgerRole role) => role switch
    {
        LedgerRole.Line => "line",
        LedgerRole.Reporting => "reporting",
        LedgerRole.Auditor => "auditor",
        LedgerRole.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Not a ledger role."),
    };

    /// <summary>Parses the text form (exactly as <see cref="ToText"/> writes it).</summary>
    public static bool TryParse(string? text, out LedgerRole role)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.ToText(), text, StringComparison.Ordinal))
            {
                role = candidate;
                return true;
            }
        }

        role = default;
        return false;
    }

    /// <summary>
    /// Whether a key of role <paramref name="held"/> may call an endpoint that requires <paramref name="required"/>:
    /// admin implies every role, and auditor implies reporting's reads.
    /// </summary>
    public static bool Satisfies(this LedgerRole held, LedgerRole required) =>
        held == required
        || held == LedgerRole.Admin
        || (held == LedgerRole.Auditor && required == LedgerRole.Reporting);
}
