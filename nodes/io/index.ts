import type { NodeDefinition } from "../../sdk";
import generator from "./generator";
import http from "./http";
import sink from "./sink";
import fashionMnist from "./fashion-mnist";

export const ioNodes: NodeDefinition[] = [http, generator, sink, fashionMnist];
