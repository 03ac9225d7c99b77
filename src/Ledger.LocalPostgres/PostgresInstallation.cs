using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Ledger.LocalPostgres;

/// <summary>The PostgreSQL server binaries installed on this machine: the directory holding initdb and pg_ctl, and their version.</summary>
public sealed partial class PostgresInstallation
{
    PostgresInstallation(string binDirectory, Version version)
    {
        BinDirectory = binDirectory;
        Version = version;
    }

    /// <summary>The directory that holds initdb, pg_ctl and postgres, e.g. /usr/lib/postgresql/15/bin.</summary>
    public string BinDirectory { get; }

    /// <summary>The server version as pg_ctl reports it, e.g. 15.18.</summary>
    public Version Version { get; }

    /// <summary>
    /// Finds the server binaries: the directory named by the PG_BIN environment variable when it is set; otherwise
    /// the first of the PATH, <c>pg_config --bindir</c> and /usr/lib/postgresql/*/bin (highest version first)
    /// that holds initdb and pg_ctl.
    /// </summary>
    /// <returns>The installation found.</returns>
    /// <exception cref="PostgresNotInstalledException">No such directory exists, or PG_BIN names one without the binaries.</exception>
    public static PostgresInstallation Find()
    {
        var pgBin = Environment.GetEnvironmentVariable("PG_BIN");
        if (!string.IsNullOrWhiteSpace(pgBin))
        {
            // No fallback: someone who set PG_BIN wants those binaries, and a wrong PG_BIN should say so.
            return At(pgBin);
        }

        var lookedIn = new List<string>();
        foreach (var directory in CandidateDirectories())
        {
            lookedIn.Add(directory);
            if (HoldsServerBinaries(directory))
            {
                return Load(directory);
            }
        }

        throw NotInstalled(lookedIn.Count == 0 ? "PATH, pg_config, /usr/lib/postgresql/*/bin" : string.Join(", ", lookedIn.Distinct()));
    }

    /// <summary>Uses the server binaries in the given directory.</summary>
    /// <param name="binDirectory">The directory that holds initdb and pg_ctl.</param>
    /// <returns>The installation in that directory.</returns>
    /// <exception cref="PostgresNotInstalledException">The directory does not hold initdb and pg_ctl.</exception>
    public static PostgresInstallation At(string binDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(binDirectory);
        var directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(binDirectory));
        return HoldsServerBinaries(directory) ? Load(directory) : throw NotInstalled(directory);
    }

    /// <summary>The full path of one of the server programs in <see cref="BinDirectory"/>.</summary>
    /// <param name="program">The program's name, e.g. <c>pg_ctl</c>.</param>
    /// <returns>The program's full path.</returns>
    public string PathOf(string program) => Path.Combine(BinDirectory, program);

    static PostgresNotInstalledException NotInstalled(string lookedIn) =>
        new($"{PostgresNotInstalledException.Advice} (Looked in: {lookedIn}.)");

    static bool HoldsServerBinaries(string directory) =>
        File.Exists(Path.Combine(directory, "initdb")) && File.Exists(Path.Combine(directory, "pg_ctl"));

    static IEnumerable<string> CandidateDirectories()
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var pgCtl = new FileInfo(Path.Combine(directory, "pg_ctl"));
            if (pgCtl.Exists)
            {
                // A PATH entry often holds only symlinks (/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl);
                // the directory they point into is the one that also holds postgres.
                var target = pgCtl.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? pgCtl.FullName;
                yield return Path.GetDirectoryName(target)!;
            }
        }

        if (PgConfigBinDirectory() is { } fromPgConfig)
        {
            yield return fromPgConfig;
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var byVersion = Directory.GetDirectories(debianRoot)
                .Select(directory => (directory, major: int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : -1))
                .OrderByDescending(entry => entry.major);
            foreach (var (directory, _) in byVersion)
            {
                yield return Path.Combine(directory, "bin");
            }
        }
    }

    static string? PgConfigBinDirectory()
    {
        try
        {
            var startInfo = new ProcessStartInfo("pg_config", "--bindir")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var process = Process.Start(startInfo);
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEnd().Trim();
            return process.WaitForExit(TimeSpan.FromSeconds(10)) && process.ExitCode == 0 && output.Length > 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // pg_config is not installed either; the other places may still have the server.
            return null;
        }
    }

    static PostgresInstallation Load(string directory)
    {
        var pgCtl = Path.Combine(directory, "pg_ctl");
        var startInfo = new ProcessStartInfo(pgCtl, "--version")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string output;
        try
        {
            using var process = Process.Start(startInfo) ?? throw new LocalPostgresException($"Could not run {pgCtl} --version.");
            output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LocalPostgresException($"Could not run {pgCtl} --version: {e.Message}", e);
        }

        // "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", or "16devel" for a development build.
        var match = VersionPattern().Match(output);
        if (!match.Success)
        {
            throw new LocalPostgresException($"{pgCtl} --version printed no version: {output.Trim()}");
        }

        var major = int.Parse(match.Groups["major"].Value, CultureInfo.InvariantCulture);
        var minor = match.Groups["minor"].Success ? int.Parse(match.Groups["minor"].Value, CultureInfo.InvariantCulture) : 0;
        return new PostgresInstallation(directory, new Version(major, minor));
    }

    [GeneratedRegex(@"\(PostgreSQL\) (?<major>\d+)(?:\.(?<minor>\d+))?")]
    private static partial Regex VersionPattern();
}
