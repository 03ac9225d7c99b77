using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Ledger.Api.Tests.Operations;

/// <summary>One sample line: its metric name, labels and value.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(params (string Label, string Value)[] labels) =>
        labels.All(l => Labels.TryGetValue(l.Label, out var v) && v == l.Value);
}

/// <summary>A metric family: HELP, TYPE and its samples.</summary>
internal sealed record Family(string Name, string Type, string Help, List<Sample> Samples);

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4: it throws on anything a Prometheus server would
/// refuse or misread — bad names, unescaped label values, samples outside their family, a family given twice, HELP after samples,
/// histogram buckets out of order or not cumulative, a <c>+Inf</c> bucket that is not the count.
/// </summary>
internal static partial class PrometheusExposition
{
    public static Dictionary<string, Family> Parse(string text)
    {
        if (!text.EndsWith('\n')) throw new FormatException("The exposition must end with a line feed.");
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        // HELP and TYPE may come in either order (OpenTelemetry's exporter writes TYPE first), but both before the samples.
        var helps = new Dictionary<string, string>(StringComparer.Ordinal);
        Family? current = null;
        foreach (var line in text[..^1].Split('\n'))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var rest = line["# HELP ".Length..];
                var name = rest[..rest.IndexOf(' ', StringComparison.Ordinal)];
                if (!helps.TryAdd(name, UnescapeHelp(rest[(name.Length + 1)..]))) throw new FormatException($"HELP {name} twice.");
                if (current?.Name == name)
                {
                    if (current.Samples.Count > 0) throw new FormatException($"HELP {name} after its samples.");
                    families[name] = current = current with { Help = helps[name] };
                }

                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line["# TYPE ".Length..].Split(' ');
                if (parts.Length != 2 || !MetricName().IsMatch(parts[0])) throw new FormatException($"Bad TYPE line: {line}");
                if (parts[1] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped")) throw new FormatException($"Unknown type: {line}");
                if (families.ContainsKey(parts[0])) throw new FormatException($"Family {parts[0]} appears twice.");
                if (parts[1] == "counter" && !parts[0].EndsWith("_total", StringComparison.Ordinal)) throw new FormatException($"Counter {parts[0]} does not end in _total.");
                families[parts[0]] = current = new Family(parts[0], parts[1], helps.GetValueOrDefault(parts[0], string.Empty), []);
                continue;
            }

            if (line.Length == 0 || line.StartsWith('#')) throw new FormatException($"Unexpected line: '{line}'");
            var sample = ParseSample(line);
            var belongs = current is not null && (sample.Name == current.Name
                || (current.Type == "histogram" && (sample.Name == current.Name + "_bucket" || sample.Name == current.Name + "_sum" || sample.Name == current.Name + "_count")));
            if (!belongs) throw new FormatException($"Sample {sample.Name} outside its family (current: {current?.Name}).");
            current!.Samples.Add(sample);
        }

        foreach (var family in families.Values.Where(f => f.Type == "histogram")) CheckHistogram(family);
        return families;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> with these labels, or 0 when there is none yet.</summary>
    public static double Value(this Dictionary<string, Family> families, string family, string name, params (string Label, string Value)[] labels)
    {
        if (!families.TryGetValue(family, out var f)) return 0;
        var matching = f.Samples.Where(s => s.Name == name && s.Has(labels)).ToList();
        return matching.Count switch
        {
            0 => 0,
            1 => matching[0].Value,
            _ => throw new InvalidOperationException($"{matching.Count} samples of {name} match {string.Join(",", labels)}."),
        };
    }

    private static void CheckHistogram(Family family)
    {
        foreach (var series in family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal))))
        {
            var buckets = series.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal)).ToList();
            var bounds = buckets.Select(b => ParseValue(b.Labels["le"])).ToList();
            if (bounds.Count == 0 || !double.IsPositiveInfinity(bounds[^1])) throw new FormatException($"{family.Name}{{{series.Key}}} has no +Inf bucket last.");
            for (var i = 1; i < buckets.Count; i++)
            {
                if (bounds[i] <= bounds[i - 1]) throw new FormatException($"{family.Name}{{{series.Key}}}: buckets not in increasing order.");
                if (buckets[i].Value < buckets[i - 1].Value) throw new FormatException($"{family.Name}{{{series.Key}}}: buckets not cumulative.");
            }

            var count = series.Single(s => s.Name == family.Name + "_count").Value;
            _ = series.Single(s => s.Name == family.Name + "_sum");
            if (buckets[^1].Value != count) throw new FormatException($"{family.Name}{{{series.Key}}}: +Inf bucket {buckets[^1].Value} is not the count {count}.");
        }
    }

    private static Sample ParseSample(string line)
    {
        var nameEnd = line.IndexOfAny(['{', ' ']);
        var name = line[..nameEnd];
        if (!MetricName().IsMatch(name)) throw new FormatException($"Bad metric name in: {line}");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var at = nameEnd;
        if (line[at] == '{')
        {
            at++;
            while (line[at] != '}')
            {
                var eq = line.IndexOf('=', at);
                var label = line[at..eq];
                if (!LabelName().IsMatch(label) || label.StartsWith("__", StringComparison.Ordinal)) throw new FormatException($"Bad label name '{label}' in: {line}");
                if (line[eq + 1] != '"') throw new FormatException($"Unquoted label value in: {line}");
                var value = new StringBuilder();
                at = eq + 2;
                while (line[at] != '"')
                {
                    if (line[at] == '\\')
                    {
                        value.Append(line[at + 1] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            var c => throw new FormatException($"Bad escape \\{c} in: {line}"),
                        });
                        at += 2;
                    }
                    else
                    {
                        value.Append(line[at++]);
                    }
                }

                if (!labels.TryAdd(label, value.ToString())) throw new FormatException($"Label {label} twice in: {line}");
                at++;
                if (line[at] == ',') at++;
                else if (line[at] != '}') throw new FormatException($"Expected , or }} in: {line}");
            }

            at++;
        }

        if (line[at] != ' ') throw new FormatException($"Expected a space before the value in: {line}");
        return new Sample(name, labels, ParseValue(line[(at + 1)..]));
    }

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static string UnescapeHelp(string text)
    {
        var help = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\') help.Append(text[i]);
            else help.Append(text[++i] switch { '\\' => '\\', 'n' => '\n', var c => throw new FormatException($"Bad escape \\{c} in HELP: {text}") });
        }

        return help.ToString();
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();
}
