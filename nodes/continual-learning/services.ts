/**
 * The services Evoflow's own package gives a runtime (nodes/package.json "services"): the
 * rollout router that the gate and the serving nodes of a rollout share in one process.
 */
import type { ProvideServices } from "../../sdk";
import { rollouts } from "../services";
import { RolloutRouter } from "./rollout";

const provide: ProvideServices = () => ({ [rollouts.name]: new RolloutRouter() });
export default provide;
