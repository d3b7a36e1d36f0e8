/** A gate's checks, one line each with pass or fail; what was measured opens on demand. */
import type { GateCheck } from "./api";

export function GateChecks({ checks }: { checks: GateCheck[] }) {
  return (
    <ul className="gate-checks">
      {checks.map((c) => (
        <li key={c.name} data-testid="gate-check" data-passed={c.passed}>
          <details>
            <summary className={c.passed ? "accepted" : "rejected"}>
              {c.passed ? "✓" : "✗"} {c.name}
            </summary>
            <div className="muted">{c.detail}</div>
          </details>
        </li>
      ))}
    </ul>
  );
}
