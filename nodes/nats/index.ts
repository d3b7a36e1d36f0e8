import type { NodeDefinition } from "../../sdk";
import publish from "./publish";
import subscribe from "./subscribe";

export const natsNodes = [subscribe, publish] as NodeDefinition[];
