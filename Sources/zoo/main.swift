import Tapestry
print(backend.name)
