import xml.etree.ElementTree as ET

from ssah_tf.evaluation.svg import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_well_formed_with_one_line_per_series():
    svg = line_chart(
        {"a<b": ([0, 0.5, 1], [1, 0.8, 0.6]), "c": ([0, 1], [0.2, 0.3])},
        x_label="recall",
        y_label="precision",
        title="t & u",
    )
    root = ET.fromstring(svg)
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert root.find(f"{SVG}title").text == "t & u"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a<b" in texts and "recall" in texts  # escaped in the source, text when parsed
    # y = 1 sits on the top edge, y = 0 on the bottom edge of the plot area.
    first = root.find(f"{SVG}polyline").get("points").split()
    assert float(first[0].split(",")[1]) == 14.0


def test_log_x_and_bars():
    svg = line_chart(
        {"p": ([1, 10, 1000], [0.9, 0.8, 0.5])}, x_label="N", y_label="p", title="t", log_x=True
    )
    ticks = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert {"1", "10", "100", "1000"} <= set(ticks)
    bars = ET.fromstring(
        bar_chart(
            {"rel": [0.1, 0.5, 0.4], "irr": [0.6, 0.3, 0.1]},
            x_label="d",
            y_label="share",
            title="h",
        )
    )
    heights = [
        float(r.get("height"))
        for r in bars.iter(f"{SVG}rect")
        if r.get("fill") != "none" and float(r.get("width")) > 8.5
    ]
    assert len(heights) == 6 and max(heights) > 0


def test_axis_ticks_are_round_numbers_inside_the_range():
    from ssah_tf.evaluation.svg import _ticks

    # The report's old axis showed 0.00482604 0.25362 ...; steps of 1, 2, 2.5 or 5 x 10^k.
    assert _ticks(0.00482604, 0.25362) == [0.05, 0.1, 0.15, 0.2, 0.25]
    assert _ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert _ticks(0, 1234) == [0, 250, 500, 750, 1000]
    assert _ticks(3, 3) == [3]
