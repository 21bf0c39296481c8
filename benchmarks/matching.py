"""Matching: the percolator index against brute force on a seeded synthetic workload.

Profiles look like compiled CRM profiles: 1–5 keywords (words or two-syllable Vietnamese
phrases), 0–3 subject headings, 0–2 class ranges (DDC or LCC), a language filter on 40%.
Items have a title, an abstract, 1–3 subject headings, DDC and/or LCC call numbers, a language,
a type and a year. Word frequencies follow a Zipf law, as in a catalogue; profiles pick
specific rather than the most common words, as librarians do.

For 1,000, 10,000 and 50,000 profiles (one index grown incrementally, so build times are the
cost of the added profiles), batches of 1,000 and 100,000 items are matched by the index;
brute force (every compiled query on every item) runs on a sample of the 1,000-item batch and
is extrapolated per item, which the output says. 1,000-item batches are the best of
``REPEATS`` runs. Items/s include analyzing the item (folding,
tokens, keys); "match only" excludes it. cand/match counts every candidate profile per true
match; verif/match those that needed a test (a candidate found through a *sure* key needs none,
or only its remaining AND clauses, see crm/matching/index.py).

The long-lived objects (compiled profiles, and here the generated raw items) are moved out of
the cyclic garbage collector's reach with ``gc.freeze()`` after the index is built, as a
long-running match worker should do: otherwise each full collection walks every compiled
profile, which costs up to a third of the throughput on 100,000-item batches.

Targets at 10,000 profiles: >= 10,000 items/s on 1,000-item batches, >= 20x brute force,
<= 3 candidates verified per true match, time per true match roughly flat across sizes.
"""

import gc
import random
import time

from crm.matching.analysis import analyze_item
from crm.interests.compile import compile_profile
from crm.matching.index import ProfileIndex

SEED = 20261123
PROFILE_STEPS = (1_000, 10_000, 50_000)
BATCHES = (1_000, 100_000)
#: Brute force runs on this many items of the 1,000-item batch, per profile count.
BRUTE_SAMPLE = {1_000: 300, 10_000: 60, 50_000: 15}
#: Small batches are timed this many times and the best run kept (the machine is shared).
REPEATS = 3
VOCABULARY = 12_000
HEADINGS = 3_000

SYLLABLES = ("thư viện số hóa dữ liệu mở đại học giáo trình khoa máy tính mạng quản lý kinh tế tài chính ngân hàng "
             "y sinh môi trường nông nghiệp công nghệ thông tin văn hóa lịch sử địa lý ngôn ngữ văn học triết "
             "luật hành chính xã hội giáo dục đào tạo kỹ thuật điện tử cơ khí xây dựng kiến trúc du lịch báo chí "
             "truyền thông tâm lý nghệ thuật âm nhạc thể thao hóa vật lý toán thống kê nghiên cứu phát triển").split()
CONSONANTS, VOWELS = "bcdfghklmnprstvz", "aeiou"


def _vocabulary(rng: random.Random) -> list[str]:
    """Concepts: Vietnamese two-syllable compounds and English-like words, most frequent first."""
    words: set[str] = set()
    while len(words) < VOCABULARY:
        if rng.random() < 0.5:
            words.add(f"{rng.choice(SYLLABLES)} {rng.choice(SYLLABLES)}")
        else:
            words.add("".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    return ordered


class Workload:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = rng = random.Random(seed)
        self.words = _vocabulary(rng)
        self.word_weights = [1 / (rank + 1) for rank in range(len(self.words))]
        self.headings = [f"{self.words[rng.randrange(2000)].capitalize()} -- {self.words[rng.randrange(4000)]}"
                         for _ in range(HEADINGS)]
        self.heading_weights = [1 / (rank + 1) ** 0.8 for rank in range(HEADINGS)]
        self.hundreds = [f"{h:03d}" for h in range(0, 1000, 10)] + ["004", "005", "006", "025", "027", "378"]

    def _zipf_words(self, count: int) -> list[str]:
        return self.rng.choices(self.words, self.word_weights, k=count)

    def item(self) -> dict:
        rng = self.rng
        ddc = (f"{rng.choice(self.hundreds)[:2]}{rng.randrange(10)}.{rng.randrange(1000):03d}"
               if rng.random() < 0.85 else None)
        lcc = (f"{rng.choice(('Q', 'QA', 'QB', 'H', 'HD', 'Z', 'P', 'PL'))}{rng.randrange(1, 999)}.{rng.randrange(100)}"
               f" .N{rng.randrange(10, 99)} 2025") if rng.random() < 0.4 else None
        return {
            "title": " ".join(self._zipf_words(rng.randint(3, 6))).capitalize(),
            "abstract": " ".join(self._zipf_words(rng.randint(15, 35))) if rng.random() < 0.8 else None,
            "subjects": [{"heading": h, "scheme": "lcsh"}
                         for h in rng.choices(self.headings, self.heading_weights, k=rng.randint(1, 3))],
            "authors": ["Nguyễn Văn An"],
            "ddc": ddc, "lcc": lcc,
            "language": rng.choices(("vie", "eng", "fre"), (5, 4, 1))[0],
            "material_type": rng.choice(("book", "book", "ebook", "article", "thesis")),
            "year": rng.randint(2015, 2026),
        }

    def _class_range(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.4:
            return f"{rng.randrange(1000):03d}.{rng.randrange(10)}"
        if kind < 0.8:
            start = rng.randrange(990)
            return f"{start:03d}-{start + rng.randint(0, 9):03d}.99"
        letters = rng.choice(("QA", "QB", "HD", "Z", "PL"))
        number = rng.randrange(1, 990)
        return f"{letters}{number}-{letters}{number + rng.randint(0, 20)}.99"

    def profile(self) -> str:
        rng = self.rng
        keywords = [self.words[rng.randrange(300, VOCABULARY)] for _ in range(rng.randint(1, 5))]
        headings = [self.headings[rng.randrange(200, HEADINGS)] for _ in range(rng.randint(0, 3))]
        ranges = [self._class_range() for _ in range(rng.choice((0, 0, 1, 1, 2)))]
        languages = rng.choice((["vie"], ["vie", "eng"])) if rng.random() < 0.4 else []
        return compile_profile("benchmark", None, keywords, headings, ranges, languages)


def _run_index(index: ProfileIndex, items: list[dict]) -> dict:
    """Timed: analyze + ``matching_ids`` per 1,000-item chunk; candidate counts from an untimed pass."""
    analyzed_time = match_time = 0.0
    candidates = verified = matches = 0
    for start in range(0, len(items), 1000):
        chunk = items[start:start + 1000]
        t0 = time.perf_counter()
        analyzed = [analyze_item(raw) for raw in chunk]
        t1 = time.perf_counter()
        for item in analyzed:
            matches += len(index.matching_ids(item))
        match_time += time.perf_counter() - t1
        analyzed_time += t1 - t0
        for item in analyzed:
            sure, unsure = index.candidate_sets(item)
            candidates += len(sure) + len(unsure)
            verified += len(unsure) + sum(1 for profile_id in sure if profile_id in index._residual)
    return {"items": len(items), "analyze": analyzed_time, "match": match_time, "candidates": candidates,
            "verified": verified, "matches": matches}


def _run_brute(index: ProfileIndex, items: list[dict]) -> dict:
    analyzed = [analyze_item(raw) for raw in items]
    tests = [query.test for query in index._queries.values()]
    t0 = time.perf_counter()
    matches = 0
    for item in analyzed:
        matches += sum(1 for test in tests if test(item))
    return {"items": len(items), "match": time.perf_counter() - t0, "matches": matches}


def main(database_url: str | None = None, steps: tuple[int, ...] = PROFILE_STEPS,
         batches: tuple[int, ...] = BATCHES) -> None:
    """``database_url`` is accepted for the common benchmark runner; matching needs no database."""
    del database_url
    started = time.perf_counter()
    workload = Workload()
    item_stream = Workload(SEED + 1)
    largest = max(batches)
    print(f"generating {largest:,} items and {max(steps):,} profiles (seed {SEED}) ...", flush=True)
    items = [item_stream.item() for _ in range(largest)]
    profiles = [workload.profile() for _ in range(max(steps))]
    print(f"  e.g. profile: {profiles[0]}")
    index = ProfileIndex()
    print(f"{'profiles':>8} {'batch':>7} {'items/s':>8} {'match-only/s':>12} {'cand/match':>10} {'verif/match':>11} "
          f"{'matches/item':>12} {'µs/match':>9} {'brute items/s':>13} {'speed-up':>8}")
    for step in steps:
        added = step - len(index)
        t0 = time.perf_counter()
        for profile_id in range(len(index), step):
            index.add(profile_id, profiles[profile_id])
        build = time.perf_counter() - t0
        gc.freeze()  # long-lived profiles and raw items leave the collector's full passes (see docstring)
        sample = BRUTE_SAMPLE.get(step, 10)
        brute = _run_brute(index, items[:sample])
        brute_rate = brute["items"] / brute["match"]
        print(f"-- {step:,} profiles: index build {build:.2f} s for the {added:,} "
              f"profiles added; brute force measured on {sample} items and extrapolated", flush=True)
        for size in batches:
            repeats = REPEATS if size <= 1_000 else 1
            run = min((_run_index(index, items[:size]) for _ in range(repeats)),
                      key=lambda result: result["analyze"] + result["match"])
            total = run["analyze"] + run["match"]
            per_match = run["match"] / max(run["matches"], 1) * 1e6
            speedup = (1 / brute_rate + run["analyze"] / size) / (total / size)
            print(f"{step:>8,} {size:>7,} {size / total:>8,.0f} {size / run['match']:>12,.0f} "
                  f"{run['candidates'] / max(run['matches'], 1):>10.2f} "
                  f"{run['verified'] / max(run['matches'], 1):>11.2f} "
                  f"{run['matches'] / size:>12.1f} "
                  f"{per_match:>9.2f} {brute_rate:>13,.1f} {speedup:>7.0f}x", flush=True)
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
