"""`stemdl inspect DIR`: layout, samples per split and space group, the split check."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Describe a data folder (raw, npz or packed; detected): per split the number of samples,
the image shape and dtype, the samples per space group and the number of materials;
then check that no material appears in two splits (the split must be by material).

Exit code: 0 when the split check passes or cannot be made (upstream npz files carry no
material id: this is said in the output); 1 when a material appears in two splits (the
data is readable but its split leaks); 2 when the folder or a file cannot be used.
"""

EPILOG = """\
examples:
  stemdl inspect raw/               # raw ORNL folder (reads attributes only)
  stemdl inspect data-npz/ --deep   # also read every image (NaN/Inf, shape)
  stemdl inspect data-packed/ --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="describe a data folder and check the split by material",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", metavar="DIR", help="data folder (raw, npz or packed)")
    parser.add_argument("--deep", action="store_true",
                        help="read every image too and fail on NaN/Inf or a wrong shape")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from stemdl.common.data.inspect import SPLIT_LEAK, format_report, inspect_folder

    report = inspect_folder(args.dir, deep=args.deep)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(format_report(report))
    return 1 if report.split_check == SPLIT_LEAK else 0
