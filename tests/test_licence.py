"""Licence stage: alias families, detectors, categories, policy decisions, opt-out signals."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import ConfigError, LicenceConfig, load_config
from refinery.transforms.beam.licence import TagLicences
from refinery.transforms.licence import (
    LicenceIndex,
    LicenceFindings,
    analyse,
    category_of,
    decide,
    find_copyrights,
    find_opt_outs,
    licences_in_text,
    normalise_licence,
)


@pytest.mark.parametrize("raw, spdx", [
    # SPDX ids and expressions (license-expression), any case, deprecated ids made current
    ("MIT", "MIT"), ("apache-2.0", "Apache-2.0"), ("GPL-2.0", "GPL-2.0-only"), ("GPL-2.0+", "GPL-2.0-or-later"),
    ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
    # Apache / MIT / BSD spellings
    ("Apache 2", "Apache-2.0"), ("Apache License, Version 2.0", "Apache-2.0"), ("MIT License", "MIT"),
    ("The MIT Licence", "MIT"), ("BSD 3-Clause License", "BSD-3-Clause"), ("Simplified BSD", "BSD-2-Clause"),
    # GNU family
    ("GPLv3", "GPL-3.0-only"), ("GNU GPL v2 or later", "GPL-2.0-or-later"), ("LGPL v2.1", "LGPL-2.1-only"),
    ("GNU Affero General Public License v3", "AGPL-3.0-only"), ("GPL version 3 or later", "GPL-3.0-or-later"),
    # Creative Commons: abbreviations, names, URLs, Chinese
    ("CC BY-NC 4.0", "CC-BY-NC-4.0"), ("CC BY-SA 3.0", "CC-BY-SA-3.0"),
    ("Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International", "CC-BY-NC-SA-4.0"),
    ("https://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0"),
    ("creativecommons.org/licenses/by-nd/2.0/", "CC-BY-ND-2.0"),
    ("知识共享署名 4.0 国际许可协议", "CC-BY-4.0"), ("署名-非商业性使用", "CC-BY-NC-4.0"),
    ("知识共享署名-相同方式共享 3.0", "CC-BY-SA-3.0"),
    # public domain and dedications
    ("CC0", "CC0-1.0"), ("public domain", "LicenseRef-public-domain"),
    ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"), ("The Unlicense", "Unlicense"),
    # data licences, proprietary, unknown
    ("ODC-By", "ODC-By-1.0"), ("ODbL", "ODbL-1.0"), ("保留所有权利", "LicenseRef-proprietary"),
    ("some custom terms", "LicenseRef-unknown"),
])
def test_metadata_aliases(raw, spdx):
    assert normalise_licence(raw) == spdx


def test_empty_metadata_is_none():
    assert normalise_licence("") is None and normalise_licence(None) is None
    assert normalise_licence(["MIT", "Apache 2"]) == "Apache-2.0 AND MIT"


@pytest.mark.parametrize("spdx, category", [
    ("MIT", "permissive"), ("CC0-1.0", "public-domain"), ("LGPL-2.1-only", "weak-copyleft"),
    ("GPL-3.0-or-later", "copyleft"), ("CC-BY-SA-4.0", "copyleft"), ("CC-BY-NC-ND-4.0", "non-commercial"),
    ("CC-BY-ND-4.0", "no-derivatives"), ("LicenseRef-proprietary", "proprietary"), ("Foo-1.0", "unknown"),
    ("MIT OR GPL-3.0-only", "permissive"), ("MIT AND GPL-3.0-only", "copyleft"),
])
def test_categories(spdx, category):
    assert category_of(spdx) == category


@pytest.fixture(scope="module")
def index():
    return LicenceIndex.load()


def test_spdx_tag_wins(index):
    found = licences_in_text("// SPDX-License-Identifier: GPL-2.0-or-later OR MIT\nint main() {}", index)
    assert [(f.spdx, f.how) for f in found] == [("GPL-2.0-or-later OR MIT", "tag")]


def test_full_licence_text_is_matched(index):
    mit = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
           "associated documentation files (the \"Software\"), to deal in the Software without restriction, "
           "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
           "and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, "
           "subject to the following conditions: The above copyright notice and this permission notice shall be "
           "included in all copies or substantial portions of the Software.")
    found = licences_in_text("Copyright (c) 2020 Jane Doe\n\n" + mit, index)
    assert [f.spdx for f in found] == ["MIT"]
    import json as _json
    from pathlib import Path

    full = _json.loads((Path(__file__).resolve().parent.parent / "benchmarks/data/licence_files.json")
                       .read_text())["cases"][5][0]  # a whole BSD-3-Clause licence file
    assert [f.spdx for f in licences_in_text(full, index)] == ["BSD-3-Clause"]


def test_notice_inside_comment_markers(index):
    hdr = ("/*\n * This program is free software; you can redistribute it and/or modify\n * it under the terms of the "
           "GNU General Public License as published by\n * the Free Software Foundation; either version 3 of the "
           "License, or\n * (at your option) any later version.\n */")
    assert [f.spdx for f in licences_in_text(hdr, index)] == ["GPL-3.0-or-later"]


def test_notices_and_links(index):
    assert licences_in_text("Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use "
                            "this file except in compliance with the License.", None)[0].spdx == "Apache-2.0"
    gpl = ("This program is free software; you can redistribute it and/or modify it under the terms of the GNU "
           "General Public License as published by the Free Software Foundation; either version 2 of the License, "
           "or (at your option) any later version.")
    assert licences_in_text(gpl, None)[0].spdx == "GPL-2.0-or-later"
    assert licences_in_text("See https://creativecommons.org/licenses/by/4.0/ for terms.", None)[0].spdx == "CC-BY-4.0"


@pytest.mark.parametrize("text, statements, holders, reserved", [
    ("Copyright (c) 2019-2021 Foo Inc. All rights reserved.", ["Copyright (c) 2019-2021 Foo Inc."], ["Foo Inc."], True),
    ("© 2023 Bar Ltd", ["© 2023 Bar Ltd"], ["Bar Ltd"], False),
    ("(C) 1998 X", ["(C) 1998 X"], ["X"], False),
    ("版权所有 © 2020 某某公司", ["版权所有 © 2020 某某公司"], ["某某公司"], True),
    ("著作权归作者所有。", ["著作权归作者所有"], ["作者"], False),
    ("本文未经许可，不得转载。", [], [], True),
    ("The copyright law of 1976 applies; see items (a), (b) and (c).", [], [], False),
])
def test_copyright_statements(text, statements, holders, reserved):
    assert find_copyrights(text) == (statements, holders, reserved)


@pytest.mark.parametrize("text, meta, signal", [
    ('<meta name="robots" content="noai, noimageai">', None, "text:robots-noai"),
    ('<meta name="tdm-reservation" content="1">', None, "text:tdm-reservation"),
    ("These essays are not for AI training.", None, "text:statement"),
    ("本站内容禁止用于人工智能训练。", None, "text:statement"),
    ("plain text", {"http_headers": {"X-Robots-Tag": "noai"}}, "meta:http-headers.x-robots-tag:noai"),
    ("plain text", {"tdm-reservation": "1"}, "meta:tdm-reservation"),
])
def test_opt_out_signals(text, meta, signal):
    assert signal in find_opt_outs(text, meta)


def test_no_opt_out_in_ordinary_prose():
    assert find_opt_outs("We trained the dogs for an AI-themed show and a robots exhibition.", None) == []


def _f(**kw):
    base = dict(spdx="MIT", source="metadata", category="permissive", statements=[], holders=[], reserved=False,
                opt_outs=[])
    base.update(kw)
    return LicenceFindings(**base)


@pytest.mark.parametrize("findings, decision", [
    (_f(), "allow"),
    (_f(spdx="CC-BY-NC-4.0", category="non-commercial"), "deny"),
    (_f(spdx="GPL-3.0-only", category="copyleft"), "review"),
    (_f(opt_outs=["text:statement"]), "deny"),
    (_f(spdx=None, source="none", category="unknown", reserved=True), "review"),
    (_f(spdx=None, source="none", category="unknown"), "review"),
    (_f(spdx="LicenseRef-proprietary", category="proprietary"), "deny"),
])
def test_policy_decisions(findings, decision):
    assert decide(findings, LicenceConfig())[0] == decision


def test_policy_id_override_and_validation():
    cfg = LicenceConfig(ids={"GPL-3.0-only": "allow"})
    assert decide(_f(spdx="GPL-3.0-only", category="copyleft"), cfg)[0] == "allow"
    with pytest.raises(ConfigError, match="not a licence category"):
        load_config(None, ["licence.policy={permissive: allow, copyleftish: deny}"])


def test_analyse_metadata_then_text(index):
    cfg = LicenceConfig()
    f = analyse("Some prose without any notice at all, just words.", {"license": "Apache 2"}, cfg, index)
    assert (f.spdx, f.source, f.category) == ("Apache-2.0", "metadata", "permissive")
    f = analyse("Released under the MIT License. Copyright 2020 Jane Doe.", {}, cfg, index)
    assert (f.spdx, f.source, f.holders) == ("MIT", "text", ["Jane Doe"])
    f = analyse("Nothing here.", None, cfg, index)
    assert (f.spdx, f.source, f.category) == (None, "none", "unknown")


def _rec(doc_id, text, meta):
    return {"doc_id": doc_id, "text": text, "meta": json.dumps(meta) if meta else None, "source_uri": "mem://x",
            "source_line": 0, "stages": ["ingest"]}


def test_tag_licences_transform():
    cfg = load_config(None, ["licence.review_action=reject"])
    records = [_rec("ok", "A text.", {"license": "MIT"}), _rec("nc", "A text.", {"license": "CC BY-NC 4.0"}),
               _rec("gpl", "A text.", {"license": "GPLv3"}),
               _rec("optout", "Not for AI training, please.", {"license": "MIT"})]
    with TestPipeline() as p:
        out = p | beam.Create(records) | TagLicences(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["licence_spdx"], r["licence_decision"])),
                    equal_to([("ok", "MIT", "allow")]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"])),
                    equal_to([("nc", "licence_denied"), ("gpl", "licence_review"), ("optout", "opted_out")]),
                    label="rejected")
