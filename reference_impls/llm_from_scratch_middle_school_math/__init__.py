"""Understanding LLMs from Scratch Using Middle School Math (Rohit Patel, 2024): a character GPT in NumPy."""
