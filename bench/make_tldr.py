#!/usr/bin/python3
"""make_tldr.py: writes a synthetic TL;DR comparisons set in the upstream
layout (the JSON-lines files manifests/sources.json lists for "tldr" under
DIR/comparisons/, the json.dumps style of OpenAI's files) for bench/loaders.sh.
Deterministic from the seed.

    /usr/bin/python3 bench/make_tldr.py DIR MEGABYTES
"""
import json
import os
import random
import sys

SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "manifests",
                       "sources.json")
FILES = [os.path.basename(f["path"])[:-len(".json")]
         for f in json.load(open(SOURCES))["tldr"]["files"]]
WORDS = ("the my a cat dog work friend said because really never always today "
         "months money school help advice boyfriend girlfriend parents job "
         "apartment caf\u00e9 Z\u00fcrich \u65e5\u672c").split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def main():
    out, megabytes = sys.argv[1], float(sys.argv[2])
    rng = random.Random(20250226)
    workers = ["w%02d" % i for i in range(40)]
    os.makedirs(os.path.join(out, "comparisons"), exist_ok=True)
    per_file = int(megabytes * 1e6 / len(FILES))
    for i, name in enumerate(FILES):
        with open(os.path.join(out, "comparisons", name + ".json"), "w") as f:
            size = 0
            k = 0
            while size < per_file:
                row = {"info": {"id": "t3_%d_%d" % (i, k), "post": text(rng, 120),
                                "title": text(rng, 8), "subreddit": "relationships"},
                       "summaries": [{"text": " " + text(rng, 25), "policy": "ref", "note": None},
                                     {"text": " " + text(rng, 25), "policy": "sup4", "note": None}],
                       "choice": rng.randrange(2), "worker": rng.choice(workers),
                       "batch": name, "split": "train" if rng.random() < 0.55 else "valid1",
                       "extra": {"confidence": rng.randrange(1, 10)}}
                line = json.dumps(row) + "\n"
                f.write(line)
                size += len(line.encode())
                k += 1


if __name__ == "__main__":
    main()
