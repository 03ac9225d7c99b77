using JasperFx;
using Ledger.Api;

// JasperFx's command line: no arguments runs the service; `codegen write` regenerates Wolverine's committed code and
// `describe` prints the configuration. Nothing with side effects runs before this line (docs/decisions/0007, Q3).
return await LedgerApp.Create(args).RunJasperFxCommands(args);

/// <summary>The entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c> in the tests.</summary>
public partial class Program;
