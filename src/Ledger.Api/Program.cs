using JasperFx;
using Ledger.Api;

// JasperFx's command line: `codegen write` regenerates Wolverine's committed code and `describe` prints the
// configuration. Without arguments the service runs as any ASP.NET Core host does: JasperFx's own "run" would start the
// same host, after scanning every assembly that references JasperFx for commands and printing a line per assembly to
// standard output, which is the JSON log (issue 15, P7: start-up). Nothing with side effects runs before this line
// (docs/decisions/0007, Q3).
var app = LedgerApp.Create(args);
if (args.Length == 0)
{
    await app.RunAsync();
    return 0;
}

return await app.RunJasperFxCommands(args);

/// <summary>The entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c> in the tests.</summary>
public partial class Program;
