print("pd-inference")
