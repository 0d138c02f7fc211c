"""Per-GPU memory plan and recommended GradCache chunk (synthembed/cli/plan_memory.py; installed as
`synthembed-plan-memory`)."""

from synthembed.cli.plan_memory import main

if __name__ == "__main__":
    main()
