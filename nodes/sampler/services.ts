/**
 * The services of the data side (nodes/package.json "services"): active learning's label
 * queues, kept in the runtime's data folder (`<data>/label-queues/`) so they outlive restarts.
 */
import path from "node:path";
import type { ProvideServices } from "../../sdk";
import { labelQueues } from "../services";
import { LabelQueues } from "./label-queue";

const provide: ProvideServices = ({ dataDir }) => ({ [labelQueues.name]: new LabelQueues(path.join(dataDir, "label-queues")) });
export default provide;
