/** A profile's figures per batch size (throughput, p50/p95/p99) and who measured them, beside its chart on the model card. */
import type { ModelCard } from "./api";

export function ProfileTable({ profile }: { profile: NonNullable<ModelCard["profile"]> }) {
  const ms = (v: number) => v.toFixed(3);
  return (
    <div className="card">
      <div className="label" data-testid="profile-source">
        {profile.measuredBy ? `Measured by the ${profile.measuredBy}` : "Measured by evoflow profile or the gate"}, {new Date(profile.createdAt).toLocaleString()}
      </div>
      <table className="history" data-testid="profile-table">
        <thead>
          <tr>
            <th>batch</th>
            <th>examples/s</th>
            <th>p50 ms</th>
            <th>p95 ms</th>
            <th>p99 ms</th>
          </tr>
        </thead>
        <tbody>
          {profile.results.map((r) => (
            <tr key={r.batchSize} data-testid={`profile-batch-${r.batchSize}`}>
              <td>{r.batchSize}</td>
              <td>{r.throughput.toFixed(0)}</td>
              <td>{ms(r.latencyMs.p50)}</td>
              <td>{ms(r.latencyMs.p95)}</td>
              <td>{ms(r.latencyMs.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
