"""`llmgen doctor`: can this host run the deployment a spec describes?"""
