from ssah_tf.errors import as_flags


def test_fields_become_the_tools_flags():
    message = "`val_size=5000` exceeds 800 items; lower `val_size` or pass `split_file`"
    flags = {"val_size"}
    assert as_flags(message, flags) == (
        "--val_size=5000 exceeds 800 items; lower --val_size or pass split_file"
    )
    assert as_flags("use `pairwise_form=nll`: stable", lambda n: True) == (
        "use --pairwise_form=nll: stable"
    )
    assert as_flags("no fields here, `x y` stays", set()) == "no fields here, `x y` stays"
