"""The serving peer of bench/serve_load.py: what a user would write instead of `orchard serve` — FastAPI on
uvicorn, PIL to decode, onnxruntime to run the same ONNX file, one image per request (no batcher).

    .venv-bench/bin/python bench/fastapi_peer.py --model M.onnx --port P

POST /predict (raw image body) -> {"label": class index, "probability"}; GET /ready -> 200 once loaded.
Preprocessing as the model zoo's MobileNetV2: RGB, 224x224 bilinear, /255, ImageNet mean/std, NCHW.
"""

import argparse
import io

import numpy as np
import onnxruntime
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def make_app(model):
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    app = FastAPI()

    @app.get("/ready")
    def ready():
        return {}

    @app.post("/predict")
    async def predict(request: Request):
        body = await request.body()
        try:
            image = Image.open(io.BytesIO(body)).convert("RGB").resize((224, 224), Image.BILINEAR)
        except Exception as error:  # noqa: BLE001 (a peer's typical handler)
            return JSONResponse({"error": str(error)}, status_code=400)
        tensor = (np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD
        scores = session.run(None, {input_name: tensor[np.newaxis]})[0][0]
        best = int(np.argmax(scores))
        return {"label": best, "probability": float(scores[best])}

    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.model), host="127.0.0.1", port=args.port, log_level="warning",
                loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
