using Ledger.LocalPostgres;

namespace Ledger.Testing.Tests;

public sealed class InstallationTests
{
    [Fact]
    public void The_installed_server_binaries_are_found_with_their_version()
    {
        var installation = PostgresInstallation.Find();

        Assert.True(File.Exists(installation.PathOf("initdb")));
        Assert.True(File.Exists(installation.PathOf("pg_ctl")));
        Assert.True(installation.Version.Major >= 15, $"Expected PostgreSQL 15 or later, found {installation.Version}.");
    }

    [Fact]
    public void A_directory_without_the_server_binaries_is_reported_with_the_package_to_install()
    {
        var empty = Directory.CreateTempSubdirectory("ledger-no-postgres-");
        try
        {
            var failure = Assert.Throws<PostgresNotInstalledException>(() => PostgresInstallation.At(empty.FullName));

            Assert.StartsWith(PostgresNotInstalledException.Advice, failure.Message, StringComparison.Ordinal);
            Assert.Contains("apt-get install -y postgresql", failure.Message, StringComparison.Ordinal);
            Assert.Contains("PG_BIN", failure.Message, StringComparison.Ordinal);
            Assert.Contains(empty.FullName, failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete();
        }
    }
}

/// <summary>PG_BIN is process-wide, so these run alone, after the parallel classes.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class ProcessEnvironment;

[Collection(typeof(ProcessEnvironment))]
public sealed class PgBinTests
{
    [Fact]
    public void PG_BIN_pointing_at_a_directory_without_the_binaries_is_reported_with_the_package_to_install()
    {
        var empty = Directory.CreateTempSubdirectory("ledger-no-postgres-");
        var before = Environment.GetEnvironmentVariable("PG_BIN");
        try
        {
            Environment.SetEnvironmentVariable("PG_BIN", empty.FullName);

            var failure = Assert.Throws<PostgresNotInstalledException>(PostgresInstallation.Find);

            Assert.Contains("apt-get install -y postgresql", failure.Message, StringComparison.Ordinal);
            Assert.Contains(empty.FullName, failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PG_BIN", before);
            empty.Delete();
        }
    }

    [Fact]
    public void PG_BIN_chooses_the_server_binaries()
    {
        var installed = PostgresInstallation.Find().BinDirectory;
        var before = Environment.GetEnvironmentVariable("PG_BIN");
        try
        {
            Environment.SetEnvironmentVariable("PG_BIN", installed + "/");

            Assert.Equal(installed, PostgresInstallation.Find().BinDirectory);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PG_BIN", before);
        }
    }
}
