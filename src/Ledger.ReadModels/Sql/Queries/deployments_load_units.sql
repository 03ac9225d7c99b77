select serial, nameplate_kwh, region, country, site, shipped_on, in_transit
from {ledger.deployment_units}
where serial = any(@serials::text[]);
