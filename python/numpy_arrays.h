// numpy arrays that own orchard's vectors (no copy), for the numpy half of orchard._core's API.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <Eigen/Dense>
#include <initializer_list>
#include <vector>

namespace orchard::python {

namespace nb = nanobind;

template <typename T>
nb::ndarray<nb::numpy, T> ToNumpy(std::vector<T>&& values, std::initializer_list<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

inline std::vector<double> ToStd(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

inline std::vector<double> RowMajor(const Eigen::MatrixXd& m) {
  std::vector<double> out(static_cast<std::size_t>(m.size()));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.data(), m.rows(),
                                                                                     m.cols()) = m;
  return out;
}

}  // namespace orchard::python
