"""MTEB evaluation with the E5-mistral protocol (synthembed/cli/evaluate.py; installed as `synthembed-evaluate`)."""

from synthembed.cli.evaluate import EvaluationArguments, main

__all__ = ["EvaluationArguments", "main"]

if __name__ == "__main__":
    main()
