# genlab in a container: serves the app and its HTTP API on 0.0.0.0:7860 with the shipped checkpoints.
#   docker build -t genlab . && docker run --rm -p 7860:7860 genlab
# Add your own checkpoints with -v /path/to/models:/models -e GENLAB_CHECKPOINTS=/models.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 GRADIO_TEMP_DIR=/tmp/genlab-gradio
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app.py ./
COPY genlab ./genlab
COPY checkpoints ./checkpoints
RUN useradd --create-home genlab && chown -R genlab /app
USER genlab
EXPOSE 7860
CMD ["python", "app.py"]
