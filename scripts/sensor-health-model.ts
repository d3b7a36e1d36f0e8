/**
 * The model of the sensor-scoring example (pipelines/sensor-scoring.json): a logistic failure
 * risk over [temperature °C, vibration g RMS, motor current A], risk = σ(0.4·(t − 60) + 12·(v − 0.5)
 * + 0.5·(c − 10)). Its weights are set by hand, not trained, so the example needs no data set:
 * healthy readings (≈ 55 °C, 0.3 g, 9 A) score ≈ 0.01, a failing bearing (≈ 70 °C, 0.8 g, 11 A) ≈ 1.
 *
 *   node --import tsx scripts/sensor-health-model.ts [pipelines/sensor-health.onnx]
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildMlp } from "../onnx/build";

export const SENSOR_FEATURES = ["temperature", "vibration", "current"] as const;

export function sensorHealthModel(): Uint8Array {
  return buildMlp({
    name: "sensor-health",
    inputSize: SENSOR_FEATURES.length,
    inputName: "readings",
    outputName: "risk",
    layers: [{ weights: [[0.4], [12], [0.5]], bias: [-(0.4 * 60 + 12 * 0.5 + 0.5 * 10)], activation: "sigmoid" }],
    docString: "Failure risk of a motor from [temperature, vibration, current]; hand-set logistic weights (scripts/sensor-health-model.ts)",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? "pipelines/sensor-health.onnx";
  writeFileSync(out, sensorHealthModel());
  console.log(`wrote ${out}`);
}
