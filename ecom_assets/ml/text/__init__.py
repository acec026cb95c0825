"""Product text: what the encoder reads, the encoder and its ONNX export, contrastive fine-tuning, embedding."""
