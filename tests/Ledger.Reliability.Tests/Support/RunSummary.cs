using System.Globalization;
using System.Text;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// What one test run did and found, printed to the test output and written to a file: requests sent, events
/// acknowledged, found, lost, doubled, 5xx answers, takeover and recovery times. Files go to LEDGER_RELIABILITY_RESULTS,
/// or reliability-results/ beside the test assembly; each run appends to summary.md there too.
/// </summary>
internal sealed class RunSummary(string test)
{
    private readonly List<(string Name, string Value)> _lines = [];
    private readonly Lock _gate = new();

    public static string ResultsDirectory { get; } = Environment.GetEnvironmentVariable("LEDGER_RELIABILITY_RESULTS") is { Length: > 0 } configured
        ? configured
        : Path.Combine(AppContext.BaseDirectory, "reliability-results");

    public string Test { get; } = test;

    public void Add(string name, object? value)
    {
        var text = value switch
        {
            null => "-",
            TimeSpan t => FormatSeconds(t),
            double d => d.ToString("0.###", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "-",
        };
        lock (_gate) _lines.Add((name, text));
    }

    public static string FormatSeconds(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + " s";

    /// <summary>Writes the summary to the test output and to the results directory; returns the file's path.</summary>
    public string Publish()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"## {Test} ({ReliabilityMode.Name} mode, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss} UTC)");
        text.AppendLine();
        text.AppendLine("| measure | value |");
        text.AppendLine("|---|---|");
        lock (_gate)
        {
            foreach (var (name, value) in _lines) text.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {value} |");
        }

        var summary = text.ToString();
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Directory.CreateDirectory(ResultsDirectory);
        var file = Path.Combine(ResultsDirectory, $"{Test}-{ReliabilityMode.Name}.md");
        File.WriteAllText(file, summary);
        File.AppendAllText(Path.Combine(ResultsDirectory, "summary.md"), summary + Environment.NewLine);
        return file;
    }
}
