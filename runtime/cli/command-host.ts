/** What node packages' CLI commands get from `evoflow` (sdk/extensions.ts CommandHost): loaded only when one runs. */
import type { CommandHost } from "../../sdk/extensions";
import { openModelRegistry } from "../registry/open";
import { formatTable } from "./model";
import { authHeaders } from "./token";

export const commandHost: CommandHost = { openRegistry: openModelRegistry, authHeaders, formatTable };
