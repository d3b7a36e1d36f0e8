/** What the importer asks of this runtime's node types (MappingContext), read from their declarations. */
import { z } from "zod";
import type { NodeTypes } from "../node-types";
import { outputsOf, parseConfig } from "../../sdk/contract";
import type { MappingContext } from "./mapping";

export function mappingContext(types: NodeTypes): MappingContext {
  return {
    hasType: (type) => types.get(type) !== undefined,
    typeShape: (type) => {
      const def = types.get(type);
      if (!def || !(def.config instanceof z.ZodObject)) return undefined;
      return { fields: Object.keys(def.config.shape), outputs: (config) => Object.keys(outputsOf(def, parseConfig(def, config) ?? config)) };
    },
  };
}
