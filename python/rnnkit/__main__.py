"""Command line: ``python -m rnnkit`` (or ``rnnkit``)."""

import argparse

from . import demo
from ._config import show_config


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="train an LSTM on a noisy sine wave")
    run_demo.add_argument("--epochs", type=int, default=15, help="passes over the data")
    run_demo.add_argument("--hidden", type=int, default=32, help="LSTM hidden size")
    run_demo.add_argument("--seed", type=int, default=0)
    commands.add_parser("config", help="how rnnkit was built")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.epochs < 1 or args.hidden < 1:
            parser.error("--epochs and --hidden must be at least 1")
        demo.run(epochs=args.epochs, hidden=args.hidden, seed=args.seed)
    else:
        show_config()


if __name__ == "__main__":
    main()
