"""The merge phase: after reduce, bring the session branch home (worktree isolation only).

By default it asks (`--yes` answers) and merges the session branch into the branch the
run started from; "no" pauses the job and names the branch that holds the work. A
`merge:` block runs the user's steps instead, in the session worktree, with `${merge.*}`.
The session worktree is removed once the merge succeeded; its branch stays.
"""

from __future__ import annotations

import time

import attrs

from mapreduce_fsm.config.model import MergeConfig
from mapreduce_fsm.git import GitSession
from mapreduce_fsm.git.merge_back import merge_into_start_branch, merge_variables
from mapreduce_fsm.phases.context import PhaseContext
from mapreduce_fsm.phases.steps import run_phase_steps, steps_result
from mapreduce_fsm.phases.types import PhaseMetrics, PhaseResult

MERGE_PHASE = "merge"


@attrs.frozen(kw_only=True)
class MergePhase:
    config: MergeConfig | None
    name: str = MERGE_PHASE

    def can_skip(self, context: PhaseContext) -> str | None:
        return None if GitSession.load(context.store.path) else "isolation is off"

    def validate(self, context: PhaseContext) -> list[str]:
        return []

    async def execute(self, context: PhaseContext) -> PhaseResult:
        started = time.monotonic()
        session = GitSession.load(context.store.path)
        assert session is not None
        await session.ensure_worktree()
        merge = await merge_variables(session, context.job_id)
        context.emit("merge.started", phase=self.name, source_branch=session.branch,
                     target_branch=session.start_branch, commit_count=merge["commit_count"])
        if self.config is not None and self.config.commands:
            variables = {**context.base_variables(), "merge": merge}
            outcome = await run_phase_steps(context, self.name, self.config.commands, variables,
                                            timeout=self.config.timeout)
            result = steps_result(self.name, outcome, started, source_branch=session.branch)
        elif merge["commit_count"] == 0 and merge["file_count"] == 0:
            result = PhaseResult.completed(self.name, data={"merged": 0})
        else:
            question = (f"Merge {merge['commit_count']} commits ({merge['file_count']} files) "
                        f"from {session.branch} into {session.start_branch or 'HEAD'}?")
            answer = await context.interaction.ask_yes_no(question, default=True)
            context.emit("merge.confirmation", phase=self.name, question=question, answer=answer)
            if not answer:
                reason = (f"the user declined the merge; the work is on branch "
                          f"{session.branch}")
                context.interaction.display_warning(reason)
                return PhaseResult.paused(self.name, reason)
            head = await merge_into_start_branch(session, context.job_id)
            context.interaction.display_info(
                f"merged {session.branch} into {session.start_branch} (now {head[:12]})")
            result = PhaseResult.completed(
                self.name, data={"merged": merge["commit_count"], "head": head},
                metrics=PhaseMetrics(duration_secs=time.monotonic() - started))
        if result.outcome == "completed":
            await session.remove_worktree()
        return result
