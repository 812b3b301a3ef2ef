"""Every JSON document lldbisect prints, in one place: its schema name and what each
top-level field means. The README's "JSON reports" table is made from this, and the
tests check every document a command prints against it, field for field."""

from __future__ import annotations

__all__ = ["SCHEMAS"]

_STAGE = "the comparison's"
SCHEMAS: dict[str, dict[str, str]] = {
    "lldbisect.symbols/1": {
        "schema": "this name",
        "file": "the file read",
        "elf_class": "32 or 64",
        "machine": "the ELF machine (EM_ARM, ...)",
        "symbols": "records in nm -n order: name, address, size, type (nm letter), binding,"
                   " elf_type, section_index, section, version",
    },
    "lldbisect.rules/1": {
        "schema": "this name",
        "tree": "the kernel source tree",
        "version": "its version, from its Makefile",
        "era": "which forms its rule files take",
        "kallsyms_reads_sysmap": "whether kallsyms reads mksysmap's output (6.1 and later)",
        "rules": "every rule in pipeline order: stage, kind, pattern, file, line, comment,"
                 " source, regex, keep, warning",
        "warnings": "where the shell or sed reads a rule otherwise than meant",
        "unread": "with --run-scripts: files the model could not read (file:line: why);"
                  " their rules are missing from rules, and the answer is the real"
                  " scripts'",
        "symbols": "with --apply: per symbol, name, type, in_kallsyms, in_system_map,"
                   " hidden_by (file:line)",
        "cross_check": "with --apply: the answer checked against the tree's own scripts"
                       " (--run-scripts): ran, agrees, how, note, answer (model or"
                       " real tools), disagreement, unread",
    },
    "lldbisect.sweep/1": {
        "schema": "this name",
        "build_dir": "the build directory relinked (and put back)",
        "linker": "the linker it was relinked with",
        "section": "where the padding went: output (section of the image), input (the"
                   " padding object's section, which the linker script sends there)",
        "range": "the paddings swept: from, to, step (bytes)",
        "model": "the layout model used, or why none",
        "predicted": "the paddings the model said fail, relinked first",
        "layouts": "each relink: padding, verdict, status, passes, culprits, failure,"
                   " seconds, predicted, placed (the padding found in its section; null:"
                   " unchecked), undecided (why the relink says nothing, or null)",
        "failing": "the first layout that failed (as in layouts), or null",
        "reproduce": "the command that relinks the build at the failing padding",
        "relinks": "how many relinks the sweep took",
        "uniform_relinks_estimate": "how many a uniform sweep of the range would need to"
                                    " meet a failing layout, by the model (null: no"
                                    " model, or none of its points fails)",
        "covered": "whether every padding planned was relinked and judged (or one"
                   " failed)",
        "undecided": "the relinks that say nothing about their layout: padding, why",
        "stopped": "why the sweep stopped early (--max-relinks, --timeout), or null",
    },
    "lldbisect.check/1": {
        "schema": "this name",
        "build_dir": "the build directory judged",
        "release": "its kernel release (include/config/kernel.release)",
        "machine": "the ELF machine of the last ELF stage (null: nm listings only)",
        "linker": "the linker's own name, from the image's .comment",
        "kernel": "the tree whose rules apply: tree, version, era",
        "layout": "the era of its stage file names",
        "passes": "each kallsyms pass: number, image, syms, kallsyms_object, kallsyms_size",
        "third_pass": "whether a third pass ran",
        "system_map_matches": "the kernel's own final check (null: nothing to compare)",
        "failure_message": "the kernel's failure message, from --log",
        "inputs": "the files linker-made symbols were found against (empty: by shape)",
        "cross_check": "the model checked against the tree's own mksysmap and kallsyms: ran,"
                       " agrees, how, note, answer (whose answer the verdict rests on:"
                       " model, real tools, or model (unchecked)), unread (files the"
                       " model could not read), stages (label, agrees, answer, the names"
                       " only one side keeps in System.map and in the table, table_note)",
        "verdict": "converged, at-risk, diverged or diverged-other",
        "reason": "the verdict in a sentence",
        "culprits": "linker-made names visible to kallsyms that differ between the last"
                    " stages",
        "evidence": "what says which names the linker made: source (inputs, objects,"
                    " shapes), confirmed (false for shapes), files, notes",
        "corpus": "the real kernels (--corpus, or the cached distribution kernels) every"
                  " pattern was also checked against, to hide none of their symbols",
        "stages": f"{_STAGE} stages: label, path, machine, symbols, linker_made,"
                  " linker_made_visible",
        "diffs": "each pair of stages: added, removed, moved, visible and linker-made ones",
        "families": "each family of linker-made names: kind, pattern, shape, label, count,"
                    " members, visible, hidden_by, safe_pattern, collateral, exact_names",
        "family_wide_regex": "one regular expression hiding every family, where safe",
    },
    "lldbisect.diff/1": {
        "schema": "this name", "cross_check": "as check's (with --run-scripts)",
        "verdict": "as check's", "reason": "as check's", "culprits": "as check's",
        "evidence": "as check's", "corpus": "as check's", "stages": "as check's",
        "diffs": "as check's", "families": "as check's",
        "family_wide_regex": "as check's",
    },
    "lldbisect.probe/1": {
        "schema": "this name",
        "linker": "the linker probed",
        "version": "its --version line",
        "kernels": "the trees whose rules were applied (their versions)",
        "cases": "each case: case, arch, flags, status (ok, unsupported, crashed), message,"
                 " seconds, families (key, kind, pattern, count, label, examples,"
                 " visible_to, hidden_by)",
        "coverage": "null without --coverage; else source, made, of, percent (null:"
                    " nothing measured), unlinked (architectures with families no case"
                    " linked, and why), families (kind, pattern, arch, kernel_arch, where,"
                    " made_by)",
    },
    "lldbisect.validate/1": {
        "schema": "this name",
        "new": "the linker validated: linker, version",
        "baseline": "the linker it replaces: linker, version",
        "kernels": "the trees whose rules were applied",
        "shard": "I/N",
        "failed": "whether validation fails (exit 1)",
        "cases": "each case: case, arch, failed, lost_support, crashed, new_crash (a crash"
                 " the baseline did not have: a failure), baseline, new, changes",
        "builds": "each --kernel-build: build, baseline, new (crashed: the new linker"
                  " crashed), regressed, crashed, new_reason, new_culprits, seconds",
        "tuxsuite": "with --tuxsuite-plan only: checked (how the plan was checked), plan"
                    " (its builds), submitted, builds (each: uid, build, state: pass, fail,"
                    " error or unfinished, kallsyms, message, log, regression), missing"
                    " (planned builds without an outcome)",
    },
    "lldbisect.bisect/1": {
        "schema": "this name",
        "good": "the good endpoint", "bad": "the bad endpoint",
        "pathspec": "the paths a tested commit touches",
        "culprit": "the first bad commit: hexsha, subject, author, date (null: none)",
        "candidates": "when skipped commits hide it: the commits it may be",
        "confirmed": "parent good and culprit bad, every retry",
        "confidence": "the share of confirmation verdicts that agreed",
        "noop": "the culprit's linker is byte-identical to its parent's",
        "steps": "every step: revision, role (good-endpoint, bad-endpoint, predicted,"
                 " predicted-parent, bisect, confirm-parent, confirm-culprit), verdict,"
                 " reason, seconds, cache_hit, check_verdict, signature (the names, with"
                 " nm letters, that mark its verdict), launcher (the compiler launcher's"
                 " name and its own hits and misses during the step; hits and misses"
                 " null for one that keeps no counters, distcc)",
        "log": "git bisect log (empty when the prediction was confirmed)",
        "reproducer": "the command that reproduces the culprit's verdict",
        "culprit_check": "what check found at the culprit: verdict, reason",
        "parent": "the culprit's parent, as confirmed",
        "found_by": "predicted (the prediction confirmed) or bisected",
        "prediction": "null with --no-predict; else names, scanned, seconds, outcome"
                      " (confirmed, refuted, untestable, no-candidate, no-names), tested,"
                      " unread, outside (candidates outside the pathspec), candidates"
                      " (hexsha, subject, why, names; best first)",
        "builds": "revisions built besides the endpoints",
        "plain_builds": "what a plain bisection of the candidates needs: ceil(log2 N)",
        "linker_builds": "how many linkers (or kernel configurations) were built",
    },
    "lldbisect.bisect-versions/1": {
        "schema": "this name",
        "last_good": "linker, version", "first_bad": "linker, version",
        "new_visible_families": "what the first bad release lets kallsyms see that the last"
                                " good did not",
        "steps": "every release tried: linker, version, verdict, check, visible_families,"
                 " seconds",
        "narrow_with": "the bisect llvm command that narrows it to a commit",
        "skipped": "releases that could not link the build",
        "ambiguous": "skipped releases between the two, any of which may be the first bad",
    },
    "lldbisect.hunt/1": {
        "schema": "this name",
        "last_good": "[linker, version] (with --llvm-src: [linker, commit])",
        "first_bad": "likewise",
        "tested": "every release tried: [linker, version, verdict]",
        "skipped": "releases that could not link the build",
        "no_good_release": "when no linker given is good: why the newest was diagnosed"
                           " all the same (null otherwise)",
        "diagnosis": "the first bad one's lldbisect.check/1 report",
        "patch": "the patch, in git format-patch form (null: none)",
        "no_patch_reason": "why there is none",
        "verified": "the patched tree converged (null: not tried)",
        "verify_detail": "what the relink with the patch showed",
        "bisect": "with --llvm-src: the lldbisect.bisect/1 report",
        "scan": "with --llvm-src: the culprit's lldbisect.scan/1 items",
    },
    "lldbisect.scan/1": {
        "schema": "this name",
        "commit": "the commit scanned (a range: A..B; two trees: OLD..NEW)",
        "subject": "its subject (a range: how many commits)",
        "commits": "the commits read: hexsha, subject (one for a single commit, none for"
                   " two trees)",
        "kernels": "the trees whose rules were applied",
        "items": "each pattern change: change, kind, pattern, file, line, scope, spelling,"
                 " was, hidden_by, observed, commit (the commit that made it; null for"
                 " two trees)",
    },
}
