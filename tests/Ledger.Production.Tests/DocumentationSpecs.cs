using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using Ledger.Production.Units.Validation;

namespace Ledger.Production.Tests;

/// <summary>docs/domain.md is what the HTTP layer and line-system integrators read; these keep it true to the code.</summary>
public sealed partial class DocumentationSpecs
{
    private static readonly Lazy<string> Document = new(() => File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "domain.md")));

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Ledger.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Ledger.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The rows of the markdown table between <c>&lt;!-- name --&gt;</c> and <c>&lt;!-- /name --&gt;</c>, header first.</summary>
    private static List<string[]> Table(string name)
    {
        var start = Document.Value.IndexOf($"<!-- {name} -->", StringComparison.Ordinal);
        var end = Document.Value.IndexOf($"<!-- /{name} -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"docs/domain.md has no table marked '{name}'.");

        return
        [
            .. Document.Value[start..end]
                .Split('\n')
                .Where(line => line.StartsWith('|') && !line.StartsWith("|---", StringComparison.Ordinal))
                .Select(line => line.Trim().Trim('|').Split('|').Select(cell => cell.Trim()).ToArray()),
        ];
    }

    [Fact]
    public void Every_rejection_code_is_documented_with_what_it_refuses()
    {
        Assert.All(RejectionCodes.All, code => Assert.Contains($"| `{code}` |", Document.Value, StringComparison.Ordinal));
        Assert.Equal(RejectionCodes.All.Count, RejectionCodes.All.Distinct().Count());
    }

    [Fact]
    public void Every_event_is_documented_under_its_api_and_stored_names() =>
        Assert.All(UnitEvents.All, type =>
            Assert.Contains($"| `{type.ApiName}` | `{type.StoredName}` |", Document.Value, StringComparison.Ordinal));

    [GeneratedRegex(@"### `(?<type>\w+)`(?<body>.*?)(?=\n## |\n### |\z)", RegexOptions.Singleline)]
    private static partial Regex EventSection();

    [GeneratedRegex(@"```json\n(?<json>.*?)\n```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    [Fact]
    public void Every_event_has_a_json_example_that_reads_validates_and_writes_back_the_same()
    {
        var documented = new HashSet<string>();
        foreach (Match section in EventSection().Matches(Document.Value))
        {
            if (!UnitEvents.TryFindByApiName(section.Groups["type"].Value, out var type))
            {
                continue;
            }

            foreach (Match block in JsonBlock().Matches(section.Groups["body"].Value))
            {
                var json = block.Groups["json"].Value;
                var @event = type.Deserialize(json);

                Assert.True(new UnitEventValidator().Validate(@event).IsValid, json);
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), JsonNode.Parse(UnitEvents.Serialize(@event))), json);
                documented.Add(type.ApiName);
            }
        }

        Assert.Equal(UnitEvents.All.Select(t => t.ApiName).Order(), documented.Order());
    }

    [Fact]
    public void The_lifecycle_table_is_what_decide_answers_in_every_stage_for_every_event()
    {
        var rows = Table("lifecycle-matrix");
        var events = rows[0][1..];

        Assert.Equal(UnitEvents.All.Select(t => t.ApiName), events);
        Assert.Equal(Enum.GetNames<UnitStage>(), rows.Skip(1).Select(row => row[0]));
        foreach (var row in rows.Skip(1))
        {
            var stage = Enum.Parse<UnitStage>(row[0]);
            for (var i = 0; i < events.Length; i++)
            {
                var decision = Scenario.Given(stage).When(Sample.ByApiName[events[i]]).Decision;
                Assert.True(
                    (decision.Rejection?.Code ?? "ok") == row[i + 1],
                    $"{events[i]} when {stage}: documented '{row[i + 1]}', decided '{decision.Rejection?.Code ?? "ok"}'.");
            }
        }
    }

    [Fact]
    public void The_region_table_lists_exactly_the_countries_of_each_region()
    {
        var rows = Table("region-table").Skip(1).ToList();

        Assert.Equal(MarketRegions.All, rows.Select(row => row[0]));
        Assert.All(rows, row =>
        {
            var countries = MarketRegions.CountriesOf(row[0]);
            Assert.Equal(string.Join(' ', countries), row[2]);
            Assert.Equal(countries.Count.ToString(CultureInfo.InvariantCulture), row[1]);
        });
    }

    [Fact]
    public void The_factory_table_is_the_seed()
    {
        var rows = Table("factory-table").Skip(1).ToList();

        Assert.Equal(
            FactorySeed.All.Select(f => new[]
            {
                f.Id, f.Name, f.Location, f.Country, f.TimeZoneId, f.Status.ToString(),
                f.NameplateUnitsPerYear?.ToString(CultureInfo.InvariantCulture) ?? "",
                f.ConstructionStarted?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "",
                f.ProductionStarted?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "",
            }),
            rows);
    }
}
