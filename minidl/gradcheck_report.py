"""What a gradient check found: one :class:`TensorResult` per checked tensor,
the broken contracts, and the verdict (see ``minidl.gradcheck`` for the rules)."""
import math
from dataclasses import dataclass, field


class GradcheckError(AssertionError):
    """A failed gradient check; the message lists every failure, then the full report."""


@dataclass
class TensorResult:
    name: str
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numerical: float
    mode: str  # "elementwise" or "directions"
    raw_rel_error: float = 0.0  # the same without the round-off allowance, for information
    largest_analytic: float = 0.0  # max |a| (or |dL/dθ . v|) over the tensor
    largest_numerical: float = 0.0  # max |n|: the scale the round-off allowance is bounded by
    status: str = "resolved"  # or "zero within round-off", or "unresolved"


@dataclass
class GradcheckReport:
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (tensor, message): contracts backward broke
    roundoff: float = 0.0  # the allowance r of every comparison
    eps: float = 1e-5
    tol: float = 1e-6

    @property
    def max_rel_error(self):
        """Worst relative error over the tensors; ``inf`` if one is unresolved."""
        return max((r.max_rel_error for r in self.results), default=0.0)

    @property
    def max_raw_rel_error(self):
        return max((r.raw_rel_error for r in self.results), default=0.0)

    @property
    def passed(self):
        return not self.problems and self.max_rel_error <= self.tol

    def worst(self):
        return max(self.results, key=lambda r: r.max_rel_error)

    def failures(self):
        """One line per failure: broken contracts first, then tensors, worst first."""
        lines = [f"failed for {name}: {message}" for name, message in self.problems]
        everything_zero = max((r.largest_numerical for r in self.results), default=0.0) <= self.roundoff
        for r in sorted(self.results, key=lambda r: -r.max_rel_error):
            if r.status == "unresolved" and everything_zero:
                lines.append(f"failed for {r.name} ({r.mode}): unresolved, every gradient of the check is "
                             f"zero to within the round-off allowance {self.roundoff:.2e}, so it tests "
                             "nothing (a constant output? a loss whose targets make it constant?)")
            elif r.status == "unresolved":
                lines.append(f"failed for {r.name} ({r.mode}): unresolved, the round-off allowance "
                             f"{self.roundoff:.2e} exceeds tol x largest |numerical gradient| = "
                             f"{self.tol:.0e} x {r.largest_numerical:.2e}, so an error that large would "
                             f"pass unseen (relative error before the allowance {r.raw_rel_error:.2e}); "
                             "shrink the output's magnitude (a large constant offset?) or its size")
            elif r.max_rel_error > self.tol:
                lines.append(f"failed for {r.name} ({r.mode}) at index {r.worst_index}: analytic "
                             f"{r.analytic:.10g}, numerical {r.numerical:.10g}, relative error "
                             f"{r.max_rel_error:.2e} > {self.tol:.0e}")
        return lines

    def __str__(self):
        rows = [f"{r.name:<32} {r.mode:<11} max rel err {r.max_rel_error:.2e} "
                f"(before round-off allowance {r.raw_rel_error:.2e}) at {r.worst_index}: "
                f"analytic {r.analytic:.10g}, numerical {r.numerical:.10g}"
                + ("" if r.status == "resolved" else f" [{r.status}]") for r in self.results]
        rows += [f"{name:<32} {message}" for name, message in self.problems]
        return "\n".join(rows)


def _judge_resolution(report):
    """Mark tensors the round-off allowance could hide an error in (module doc)."""
    r, tol = report.roundoff, report.tol
    largest = max((t.largest_numerical for t in report.results), default=0.0)
    for t in report.results:
        if r <= tol * t.largest_numerical:
            continue
        if r <= tol * largest and t.largest_numerical <= r and t.largest_analytic <= r:
            t.status, t.max_rel_error = "zero within round-off", 0.0
        else:
            t.status, t.max_rel_error = "unresolved", math.inf


def finish(report, raise_on_failure):
    _judge_resolution(report)
    if raise_on_failure and not report.passed:
        failures = report.failures()
        raise GradcheckError(f"gradient check (eps={report.eps:.0e}, tol={report.tol:.0e}, round-off "
                             f"allowance {report.roundoff:.2e}): {len(failures)} failure(s)\n"
                             + "\n".join(failures) + "\n" + str(report))
    return report
