def test_model_cards_measure_loaded_models(client):
    table, notes = client.predict("Transfer learning is useful.", ["Fine-tune base: all-MiniLM-L6-v2 (embedded)"],
                                  api_name="/model_cards")
    columns = table["headers"]
    rows = [dict(zip(columns, row)) for row in table["data"]]
    mini = next(r for r in rows if r["model"] == "all-MiniLM-L6-v2 (embedded)")
    assert mini["layers"] == 6 and mini["hidden"] == 384 and mini["ms per input"] > 0


def test_nsp_offline_says_it_needs_an_nsp_head_as_information(client):
    verdict, info = client.predict("She opened the fridge.", "It was empty.", api_name="/nsp")
    assert verdict is None or not verdict.get("confidences")
    assert info.startswith("ℹ️") and "NSP" in info
